"""Domain and coverage of one customer line, before the policy decides (issue #17).

Three questions, answered separately: is the line about banking at all (domain),
does an approved problem actually address it (coverage: the answer check of
:class:`knowledge.concepts.ConceptCheck` on each retrieved candidate), and which
one (ranking: retrieval's order among the candidates that pass). The policy
(:func:`server.brain.policy.decide`) turns the :class:`Assessment` into a decision.
"""

from __future__ import annotations

from dataclasses import replace

from knowledge.concepts import Conflict, elsewhere, other_service
from knowledge.lexicon import Mention
from knowledge.retrieval import Candidate, Retrieval, Retriever
from server.brain.policy import Assessment, PolicyConfig

# A lower candidate that addresses the line replaces a nearest one that does not only when it is
# about as near: further down the list it is a guess.
RESCUE_GAP = 0.08


def assess(
    text: str,
    mentions: list[Mention],
    retrieval: Retrieval,
    retriever: Retriever,
    config: PolicyConfig,
    *,
    in_conversation: bool = False,
) -> Assessment:
    """``in_conversation``: the line follows an answer on banking, so it is in the domain."""
    in_domain = config.check_domain and (
        in_conversation
        or retriever.concepts.anchored(text, mentions)
        or (
            retrieval.confidence >= config.unanchored_min_confidence
            and not elsewhere(text)
            and not other_service(text)
        )
    )
    if not config.check_concepts or not retrieval.candidates:
        return Assessment(in_domain, retrieval)
    check = retriever.concepts
    kept: list[Candidate] = []
    conflict: Conflict | None = None
    for candidate in retrieval.candidates:
        found = check.conflict(mentions, candidate.ref.problem.id, candidate.dense)
        if found is None:
            kept.append(candidate)
        elif conflict is None and not kept:
            conflict = found
    top = retrieval.candidates[0]
    if kept and kept[0] is not top and kept[0].dense < top.dense - RESCUE_GAP:
        kept = []
    alternatives = tuple(
        a for a in retrieval.alternatives if check.conflict(mentions, a.ref.problem.id, a.dense) is None
    )
    if kept and kept[0] is top:
        checked = replace(retrieval, candidates=kept, alternatives=alternatives)
    else:
        checked = replace(
            retrieval, candidates=kept, confidence=retriever.confidence(kept), alternatives=alternatives
        )
    same_action = not kept or check.same_action(mentions, kept[0].ref.problem.id)
    return Assessment(in_domain, checked, conflict, same_action)
