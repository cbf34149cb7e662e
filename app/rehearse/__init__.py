"""Rehearsal: the live show file (reload), console edits, the reference recording and its
captured cue times. No GL, no torch at import time."""
