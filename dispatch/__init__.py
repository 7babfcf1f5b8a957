"""dispatch: geolocation and dispatch of mobile care teams on real road networks."""

__version__ = "0.1.0"
