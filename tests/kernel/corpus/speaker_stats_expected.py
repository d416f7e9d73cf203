"""Three small meetings (tests/data/meetings/) and their speaker statistics worked by hand.

m1.vtt (timed): Ana 0-10 "Bom dia a todos. Vamos começar?" (6 words, 1 question); Bruno 8-20 "Sim, podemos
  começar agora." (4) starts while Ana speaks and outlasts her: one overlap of 2 s, an interruption of Ana by
  Bruno; Ana 20-25 "Ótimo. Quem fala primeiro?" (4, 1 question) and 25-31 "Eu posso falar hoje." (4): one turn
  of 8 words and 11 s. Ana: talk 10 + 5 + 6 = 21 s, 2 turns, 14 words; Bruno: 12 s, 1 turn, 4 words.
  Meeting talk 33 s: shares 21/33 = 0.6364 and 12/33 = 0.3636.
m2.vtt (timed): Bruno 0-4 "Alguma pergunta?" (2, 1 q); "ANA SOUZA" 5-9 "Sim. Quando entregamos? E o custo?" (6,
  2 q); Carla 10-30 (12 words); Bruno 28-32 "Perfeito, obrigado." (2) interrupts Carla (2 s overlap).
  Bruno: 8 s, 2 turns, 4 words, longest 4 s (the first of two equal turns); Ana 4 s, 6 words; Carla 20 s.
m3.txt (no timestamps): Ana 9 words, 1 question; "Bruno R." (Bruno Reis by the aliases file) 2 + 4 = 6 words in
  one turn.

Across the corpus (talk over the timed meetings: 25 + 20 + 20 = 65 s):
  Ana: 3 meetings (2 timed), 25 s = 0.3846, 4 turns, 14 + 6 + 9 = 29 words, 29/4 = 7.25 words per turn,
    2 + 2 + 1 = 5 questions; not every meeting timed, so the longest monologue is by words: 9 (m3.txt), no
    seconds; 1 overlap (2 s), 0 interruptions made, interrupted once.
  Bruno: 3 (2 timed), 20 s = 0.3077, 4 turns, 14 words, 3.5 per turn, 1 question, longest 6 words (m3.txt);
    2 overlaps (4 s), 2 interruptions made.
  Carla: 1 meeting (timed), 20 s = 0.3077, 1 turn, 12 words, longest 20 s / 12 words (m2.vtt), interrupted once.
"""
from __future__ import annotations

from pathlib import Path

MEETINGS = Path(__file__).resolve().parents[2] / "data" / "meetings"
PIPELINE = """\
name = "talk"
[[steps]]
plugin = "teams_cleaner"
config = { remove_fillers = false }
[[steps]]
plugin = "speaker_stats"
"""
ALIASES = '"Bruno Reis" = ["Bruno R."]\n'
PARTLY = ("talk time, overlaps and interruptions from the 2 of 3 meetings with timestamps; "
          "longest monologue by words")

# speaker, meetings, timed_meetings, talk_time_s, share_of_talk, turns, words, words_per_turn, questions,
# longest_monologue_s, longest_monologue_words, longest_monologue_meeting, overlaps, overlap_s,
# interruptions_made, interrupted, note
ACROSS = {
    "Ana Souza": ("Ana Souza", 3, 2, 25.0, 0.3846, 4, 29, 7.25, 5, None, 9, "m3.txt", 1, 2.0, 0, 1, PARTLY),
    "Bruno Reis": ("Bruno Reis", 3, 2, 20.0, 0.3077, 4, 14, 3.5, 1, None, 6, "m3.txt", 2, 4.0, 2, 0, PARTLY),
    "Carla Dias": ("Carla Dias", 1, 1, 20.0, 0.3077, 1, 12, 12.0, 0, 20.0, 12, "m2.vtt", 1, 2.0, 0, 1, ""),
}
# document, speaker, timed, talk_time_s, share_of_talk, turns, words, words_per_turn, questions,
# longest_monologue_s, longest_monologue_words, overlaps, overlap_s, interruptions_made, interrupted
BY_MEETING = {
    ("m1.vtt", "Ana Souza"): ("m1.vtt", "Ana Souza", True, 21.0, 0.6364, 2, 14, 7.0, 2, 11.0, 8, 1, 2.0, 0, 1),
    ("m1.vtt", "Bruno Reis"): ("m1.vtt", "Bruno Reis", True, 12.0, 0.3636, 1, 4, 4.0, 0, 12.0, 4, 1, 2.0, 1, 0),
    ("m2.vtt", "Ana Souza"): ("m2.vtt", "Ana Souza", True, 4.0, 0.125, 1, 6, 6.0, 2, 4.0, 6, 0, 0.0, 0, 0),
    ("m2.vtt", "Bruno Reis"): ("m2.vtt", "Bruno Reis", True, 8.0, 0.25, 2, 4, 2.0, 1, 4.0, 2, 1, 2.0, 1, 0),
    ("m2.vtt", "Carla Dias"): ("m2.vtt", "Carla Dias", True, 20.0, 0.625, 1, 12, 12.0, 0, 20.0, 12, 1, 2.0, 0, 1),
    ("m3.txt", "Ana Souza"): ("m3.txt", "Ana Souza", False, None, None, 1, 9, 9.0, 1, None, 9, None, None, None,
                              None),
    ("m3.txt", "Bruno Reis"): ("m3.txt", "Bruno Reis", False, None, None, 1, 6, 6.0, 0, None, 6, None, None, None,
                               None),
}


def typed(row: dict[str, str], columns: tuple[str, ...]) -> tuple:
    """A CSV row read back into Python values like the expected tuples (empty cells are None)."""
    values = []
    for column in columns:
        text = row[column]
        if text == "" and column != "note":
            values.append(None)
        elif text in ("True", "False"):
            values.append(text == "True")
        elif column in ("speaker", "document", "longest_monologue_meeting", "note"):
            values.append(text)
        else:
            values.append(float(text) if "." in text else int(text))
    return tuple(values)
