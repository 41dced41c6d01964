"""One module per paper recipe. Importing this package registers every recipe's parts by name; the registries
import it on their first lookup, so configs can name them without importing anything."""

from rlrewards.recipes import laser, pure, rlcr, tempo  # noqa: F401
