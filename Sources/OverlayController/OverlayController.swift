// OverlayController
