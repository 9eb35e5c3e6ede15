"""The "Ich für uns" social map: anonymous counts of help offers and requests per district."""
