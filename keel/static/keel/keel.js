// Keel: small progressive enhancements. Pages work without JavaScript.
