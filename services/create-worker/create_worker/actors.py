"""Actors of the create studio (its `create.run_job` actor arrives with the create studio issue)."""
