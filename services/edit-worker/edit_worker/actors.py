"""Actors of the edit studio (its `edit.run_job` actor arrives with the edit studio issue)."""
