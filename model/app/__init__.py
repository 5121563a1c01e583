"""What only the app uses, above the library: the feedback store, Grad-CAM and the "About this model" facts.

Nothing in the package imports it; `app.py` (and a Space bundle's copy) does.
"""
