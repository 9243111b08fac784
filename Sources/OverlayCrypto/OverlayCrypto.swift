// OverlayCrypto
