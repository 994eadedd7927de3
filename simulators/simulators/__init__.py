"""Local SIMULATORS of the AI providers (arriving with the create studio); never the real services."""
