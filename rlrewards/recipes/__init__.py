"""One module per paper recipe, discovered: the registries import every module of this package on their first
lookup (``rlrewards.registry.import_submodules``), and each module registers its parts by name. Light config checks
live in ``<recipe>_checks.py`` modules, which import no ML library (``rlrewards.config.CONFIG_CHECKS``)."""
