"""driftalign: distil a compact vision-language student from several drifting teachers (APO),
then fine-tune it with clinically weighted RL (DEER)."""

__version__ = "0.1.0"
