"""Choosing among generated media: `catalog` (the variations made for a cue), `ratings`,
`picks` (the chosen seed per cue), `grid` (axis sweeps), `contact_sheet` (sheets to look at)."""
