"""The documents service: the E-Akte of the city administration."""
