"""Credit-metered image generation: the domain behind the Firebase entry points in main.py."""
