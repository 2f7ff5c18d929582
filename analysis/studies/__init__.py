"""One question each: controls, the headline, L-VAE against fixed beta, stability, floor
and ceiling. Studies combine io and stats into tables."""
