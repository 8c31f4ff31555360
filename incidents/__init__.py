"""What happened: taxonomy, classification, fact extraction, grading, the incident record and its lifecycle."""
