"""The file plan (Aktenplan): the tree of plan units every case file is filed under."""
