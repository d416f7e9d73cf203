"""Small sample Documents for plugin tests and `qualia plugins check`.

They cover what a plugin meets in use: Portuguese and English, plain text and a
transcript already split into speaker segments (as `teams_cleaner` leaves it),
accents and punctuation, and a document whose language is `auto`.
"""
from __future__ import annotations

from .document import Document, Segment

SAMPLE_DOCUMENTS: tuple[Document, ...] = (
    Document(id="sample-pt", language="pt",
             text="A reunião de hoje foi ótima. Decidimos lançar a versão nova na próxima semana, "
                  "mas o orçamento ainda preocupa a equipe."),
    Document(id="sample-en-transcript", language="en",
             text="Ana: Good morning, everyone. Thanks for joining.\n"
                  "Bruno: Morning! I think the survey results look really promising.\n"
                  "Ana: Agreed, although the response rate was lower than we hoped.",
             segments=[
                 Segment(speaker="Ana", start=0.0, end=3.2, text="Good morning, everyone. Thanks for joining."),
                 Segment(speaker="Bruno", start=3.4, end=7.9,
                         text="Morning! I think the survey results look really promising."),
                 Segment(speaker="Ana", start=8.1, end=12.0,
                         text="Agreed, although the response rate was lower than we hoped."),
             ],
             metadata={"source": "sample"}),
    Document(id="sample-auto", text="Short answer: yes, it works. Sim, funciona!"),
)
