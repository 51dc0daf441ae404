"""Next-best offers: the offer policy (catalogue, eligibility, consent, retention), candidate pairs, and
the rules that turn a ranker's scores into an answer."""

from cxops.recommendation.candidates import candidate_pairs, with_offer_features
from cxops.recommendation.errors import ConsentRecordMissingError, OfferPolicyError, RecommendationError
from cxops.recommendation.policy import Offer, OfferPolicy, load_offer_policy
from cxops.recommendation.recommender import ConsentRecord, Recommendations, RecommendedOffer, Recommender

__all__ = [
    "ConsentRecord",
    "ConsentRecordMissingError",
    "Offer",
    "OfferPolicy",
    "OfferPolicyError",
    "RecommendationError",
    "Recommendations",
    "RecommendedOffer",
    "Recommender",
    "candidate_pairs",
    "load_offer_policy",
    "with_offer_features",
]
