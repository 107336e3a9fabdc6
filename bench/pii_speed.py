"""Speed of PII masking (``mask_pii``) on customer-length sentences.

Target: under 50 µs per ~100-character sentence (it runs on every customer turn
and every logged line). Best of 5 rounds of 200 passes over 4 sentences.

Keys: best_us_per_sentence, target_us, load_1m (machine load when done: timings
are only comparable on an idle machine).
Run: .venv/bin/python bench/pii_speed.py
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.brain.pii import mask_pii

TARGET_US = 50.0
SENTENCES = [
    "Hi, I would like to check the payment of £1,250.00 made on 12/03/2024 at 10:30 please.",
    "Could you tell me why my last transfer has not arrived yet, it has been three working days?",
    "My number is 07700 900123 and my card is 4111 1111 1111 1111, thanks for helping me today.",
    "I want to dispute two transactions from March, one for £45.99 and one for £120 at 2pm.",
]


def main() -> None:
    for sentence in SENTENCES:
        mask_pii(sentence)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(200):
            for sentence in SENTENCES:
                mask_pii(sentence)
        best = min(best, (time.perf_counter() - t0) / (200 * len(SENTENCES)))
    print(json.dumps({
        "best_us_per_sentence": round(best * 1e6, 1), "target_us": TARGET_US,
        "load_1m": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
