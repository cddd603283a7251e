"""What leaves the building: the registered champion, batch scoring, the serving card."""
