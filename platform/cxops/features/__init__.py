"""The Feast feature layer: repository definitions, the installation's Feast config, and the client.

`FeatureStoreClient(settings)` writes offline feature rows, applies a model's feature definitions,
materializes them online, and reads point-in-time training frames and online features. Feast itself is
imported only when a client is created or definitions are loaded.
"""

from cxops.features.client import ENTITY_TIMESTAMP, FeatureStoreClient
from cxops.features.config import redis_connection_string, repo_config
from cxops.features.definitions import Definitions, ModelFeatures, for_spec, load_definitions, service_fields
from cxops.features.errors import FeatureDefinitionError, FeatureStoreError

__all__ = [
    "ENTITY_TIMESTAMP",
    "Definitions",
    "FeatureDefinitionError",
    "FeatureStoreClient",
    "FeatureStoreError",
    "ModelFeatures",
    "for_spec",
    "load_definitions",
    "redis_connection_string",
    "repo_config",
    "service_fields",
]
