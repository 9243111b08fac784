// OverlayAgent
