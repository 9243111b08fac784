import OverlayModel

@testable import WireGuard

/// A recognisable key: 32 copies of `byte` (hex `bbbb...`).
func key(_ byte: UInt8) -> WireGuardKey { WireGuardKey(bytes: [UInt8](repeating: byte, count: 32))! }

/// The hex of `key(byte)`.
func hex(_ byte: UInt8) -> String {
    String(repeating: (byte < 0x10 ? "0" : "") + String(byte, radix: 16), count: 32)
}

func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }

func endpoint(_ s: String) -> Endpoint { Endpoint(s)! }

/// RFC 7748 §6.1, Alice: a private key whose X25519 public key is known.
let rfc7748Private = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
let rfc7748Public = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"

func secret(hex: String) -> SecretKey {
    SecretKey(copying: WireGuardKey(hex: hex)!.bytes)
}
