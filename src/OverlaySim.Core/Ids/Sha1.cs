using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace OverlaySim.Core;

/// <summary>
/// SHA-1 (FIPS 180-4, §6.1) of short messages, the key names a run hashes by the million ("key-123456"): one 64-byte
/// block, computed here. The platform's SHA-1 goes through the system's crypto library, whose fixed cost per call
/// (about 1 µs) was most of the hashing; longer messages still go there. The digests are the same bytes (tested
/// against the platform's on every short length).
/// </summary>
public static class Sha1
{
    /// <summary>The longest message that fits one block with its padding: 64 − 1 (the 0x80 byte) − 8 (the length).</summary>
    public const int MaxShort = 55;

    /// <summary>The 160-bit digest of <paramref name="message"/> into <paramref name="digest"/> (20 bytes), big-endian.</summary>
    public static void Hash(ReadOnlySpan<byte> message, Span<byte> digest)
    {
        if (message.Length > MaxShort)
        {
            SHA1.HashData(message, digest);
            return;
        }
        Span<byte> block = stackalloc byte[64];
        block.Clear();
        message.CopyTo(block);
        block[message.Length] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(block[56..], (ulong)message.Length * 8);

        Span<uint> w = stackalloc uint[80];
        for (int t = 0; t < 16; t++) w[t] = BinaryPrimitives.ReadUInt32BigEndian(block[(4 * t)..]);
        for (int t = 16; t < 80; t++) w[t] = BitOperations.RotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

        uint a = 0x67452301, b = 0xEFCDAB89, c = 0x98BADCFE, d = 0x10325476, e = 0xC3D2E1F0;
        for (int t = 0; t < 80; t++)
        {
            uint f, k;
            if (t < 20) (f, k) = ((b & c) | (~b & d), 0x5A827999u);
            else if (t < 40) (f, k) = (b ^ c ^ d, 0x6ED9EBA1u);
            else if (t < 60) (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1BBCDCu);
            else (f, k) = (b ^ c ^ d, 0xCA62C1D6u);
            uint next = BitOperations.RotateLeft(a, 5) + f + e + k + w[t];
            e = d;
            d = c;
            c = BitOperations.RotateLeft(b, 30);
            b = a;
            a = next;
        }
        BinaryPrimitives.WriteUInt32BigEndian(digest, 0x67452301 + a);
        BinaryPrimitives.WriteUInt32BigEndian(digest[4..], 0xEFCDAB89 + b);
        BinaryPrimitives.WriteUInt32BigEndian(digest[8..], 0x98BADCFE + c);
        BinaryPrimitives.WriteUInt32BigEndian(digest[12..], 0x10325476 + d);
        BinaryPrimitives.WriteUInt32BigEndian(digest[16..], 0xC3D2E1F0 + e);
    }
}
