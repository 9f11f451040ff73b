"""The bureau's figures: metrics over the store, exports, content gaps and the weekly report."""
