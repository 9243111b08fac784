// OverlayStore
