"""Pure, framework-free torch implementations of the papers' estimators and losses."""
