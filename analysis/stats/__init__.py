"""Pure statistics on arrays and tables: paired tests, variance components, dose-response,
multiplicity. Nothing here reads files."""
