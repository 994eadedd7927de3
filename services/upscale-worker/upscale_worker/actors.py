"""Actors of the upscale studio (its `upscale.run_job` actor arrives with the upscale studio issue)."""
