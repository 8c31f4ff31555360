"""What happened: the taxonomy, the text reader (``incidents.reader``: classification and fact extraction), grading,
the incident record and its lifecycle."""
