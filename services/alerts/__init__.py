"""The alerts service: who is alerted about what, in-app alerts and their e-mail (DESIGN rule 7)."""
