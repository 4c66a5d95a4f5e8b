"""Learned predictors: encodings, classifiers, metrics, training and persistence."""

from airchitect.learn import metrics
from airchitect.learn.boosted import BoostedCostClassifier
from airchitect.learn.encoding import Encoder
from airchitect.learn.estimators import (
    AirchitectClassifier,
    ResMLPClassifier,
    make_baseline,
)
from airchitect.learn.factorised import FactorisedClassifier
from airchitect.learn.ordinal import OrdinalTransformerClassifier
from airchitect.learn.predictor import Predictor
from airchitect.learn.stalls import SplitStallClassifier
from airchitect.learn.surrogate import SurrogateClassifier
from airchitect.learn.train import evaluate, split, train

__all__ = [
    "AirchitectClassifier", "BoostedCostClassifier", "Encoder", "FactorisedClassifier",
    "OrdinalTransformerClassifier", "Predictor", "ResMLPClassifier", "SplitStallClassifier",
    "SurrogateClassifier",
    "evaluate", "make_baseline", "metrics", "split", "train",
]
