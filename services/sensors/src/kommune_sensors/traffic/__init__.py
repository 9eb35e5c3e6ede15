"""Traffic counts: by mode and direction per location, 15-minute and hourly, week against week."""
