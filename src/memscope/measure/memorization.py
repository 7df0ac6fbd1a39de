"""Unintended memorization per sample (Morris et al. 2025) and how it relates to a sample's rarity.

mem(x) = max(0, log2 p(x | target) - log2 p(x | reference)) bits: what the target knows about x beyond
what a reference model (trained without x) already predicts. With no reference model the reference is
the uniform code over the data's alphabet (`uniform_code_bits`, `data_alphabet`): each character costs
log2 |A| bits, A the distinct characters of the texts compared (members and non-members together, so
both groups meet one reference). That is Morris et al.'s uniform reference S*log2(V) with V the alphabet
the data is drawn from, as the capacity estimator (capacity.py) uses it; a model's whole vocabulary would
credit every sample with len(x)*log2(|vocab|/|A|) bits that no model needs to memorize (the BOS, letters
the data never holds). Canary formats do not widen A: a canary is ranked among its format's candidates
(exposure.py), never coded against this reference. Likelihoods are of the whole text given a BOS context
token (see likelihood.py).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from scipy import stats


def clipped_memorized_bits(target_nll_bits: np.ndarray, reference_nll_bits: np.ndarray) -> np.ndarray:
    """(N,) max(0, log2 p(x|target) - log2 p(x|reference)), from (N,) negative log2-likelihoods."""
    return np.maximum(0.0, np.asarray(reference_nll_bits, float) - np.asarray(target_nll_bits, float))


def uniform_nll_bits(n_scored_tokens: np.ndarray, vocab_size: int) -> np.ndarray:
    """(N,) negative log2-likelihood under the uniform distribution over vocab_size symbols."""
    return np.asarray(n_scored_tokens, float) * math.log2(vocab_size)


def uniform_code_bits(n_symbols: int, alphabet_size: int) -> float:
    """n_symbols * log2(alphabet_size): the uniform reference code length (Morris et al. 2025's S*log2 V),
    0 for a one-symbol alphabet. The one helper behind the audit's uniform reference and capacity's."""
    return n_symbols * math.log2(alphabet_size) if alphabet_size > 1 else 0.0


def data_alphabet(texts: list[str]) -> str:
    """The distinct characters of the texts, sorted: the alphabet a uniform reference codes them over."""
    return "".join(sorted(set("".join(texts))))


def alphabet_uniform_nll_bits(texts: list[str], alphabet: str | None = None) -> np.ndarray:
    """(N,) each text's uniform code length over `alphabet` (default: the texts' own): characters x
    log2 |alphabet|, whatever the model's tokenizer (a BPE model's tokens are not the unit here)."""
    size = len(alphabet if alphabet is not None else data_alphabet(texts))
    return np.array([uniform_code_bits(len(t), size) for t in texts], float)


def bits_summary(bits: np.ndarray) -> dict:
    """Total, mean and median bits and how many samples have any (> 0) memorization."""
    bits = np.asarray(bits, float)
    if bits.size == 0:
        return {"n": 0, "total_bits": 0.0, "mean_bits": None, "median_bits": None, "n_positive": 0}
    return {"n": int(bits.size), "total_bits": float(bits.sum()), "mean_bits": float(bits.mean()),
            "median_bits": float(np.median(bits)), "n_positive": int((bits > 0).sum())}


def tfidf_rarity(docs: list[list[int]]) -> np.ndarray:
    """(N,) each document's mean inverse document frequency, weighted by term frequency (TF-IDF mass per
    term): high for a sample made of terms that few samples contain. Terms are token ids; IDF is the
    smoothed ln((1 + N) / (1 + df)) + 1 over these documents (scikit-learn's)."""
    df = Counter()
    for doc in docs:
        df.update(set(doc))
    n = len(docs)
    idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
    return np.array([sum(idf[t] for t in doc) / len(doc) if doc else 0.0 for doc in docs])


def spearman(x: np.ndarray, y: np.ndarray) -> dict:
    """Spearman rank correlation and its two-sided p-value; None where either side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": None, "p_value": None, "n": int(len(x))}
    r = stats.spearmanr(x, y)
    return {"rho": float(r.statistic), "p_value": float(r.pvalue), "n": int(len(x))}
