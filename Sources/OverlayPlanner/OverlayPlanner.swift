// OverlayPlanner
