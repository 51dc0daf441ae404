"""Next-best offers: the offer policy (catalogue, eligibility, consent, retention), candidate pairs
(`cxops.recommendation.candidates`), and the rules that turn a ranker's scores into an answer
(`cxops.recommendation.recommender`, which loads the model libraries: import it where it is used)."""

from cxops.recommendation.errors import ConsentRecordMissingError, OfferPolicyError, RecommendationError
from cxops.recommendation.policy import Offer, OfferPolicy, load_offer_policy

__all__ = [
    "ConsentRecordMissingError",
    "Offer",
    "OfferPolicy",
    "OfferPolicyError",
    "RecommendationError",
    "load_offer_policy",
]
