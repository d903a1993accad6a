using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
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

    /// <summary>Messages <see cref="Hash8"/> hashes at once: one per lane of a 256-bit vector of 32-bit words.</summary>
    public const int Lanes = 8;

    /// <summary>
    /// <see cref="Hash"/> of <see cref="Lanes"/> short messages at once (message i is <paramref name="lengths"/>[i] bytes
    /// at <paramref name="messages"/>[i · <paramref name="stride"/>], at most <see cref="MaxShort"/>), each lane of the
    /// vectors carrying one message through the same 80 rounds: the digests are those of <see cref="Hash"/>, into
    /// <paramref name="digests"/>[20 i ..]. One message after the other where the processor has no 256-bit vectors.
    /// </summary>
    public static void Hash8(ReadOnlySpan<byte> messages, int stride, ReadOnlySpan<int> lengths, Span<byte> digests)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            for (int i = 0; i < Lanes; i++) Hash(messages.Slice(i * stride, lengths[i]), digests.Slice(20 * i, 20));
            return;
        }
        Span<uint> words = stackalloc uint[16 * Lanes];   // word t of message i at [t · Lanes + i]
        Span<byte> block = stackalloc byte[64];
        for (int i = 0; i < Lanes; i++)
        {
            int length = lengths[i];
            if ((uint)length > MaxShort) throw new ArgumentOutOfRangeException(nameof(lengths), "a message of Hash8 fits one block");
            block.Clear();
            messages.Slice(i * stride, length).CopyTo(block);
            block[length] = 0x80;
            BinaryPrimitives.WriteUInt64BigEndian(block[56..], (ulong)length * 8);
            for (int t = 0; t < 16; t++) words[t * Lanes + i] = BinaryPrimitives.ReadUInt32BigEndian(block[(4 * t)..]);
        }
        Span<Vector256<uint>> w = stackalloc Vector256<uint>[16];
        for (int t = 0; t < 16; t++) w[t] = Vector256.Create<uint>(words.Slice(t * Lanes, Lanes));

        Vector256<uint> a = Vector256.Create(0x67452301u), b = Vector256.Create(0xEFCDAB89u), c = Vector256.Create(0x98BADCFEu),
            d = Vector256.Create(0x10325476u), e = Vector256.Create(0xC3D2E1F0u);
        Vector256<uint> k = Vector256.Create(0x5A827999u);
        for (int t = 0; t < 20; t++) Round(w, t, Vector256.ConditionalSelect(b, c, d), k, ref a, ref b, ref c, ref d, ref e);
        k = Vector256.Create(0x6ED9EBA1u);
        for (int t = 20; t < 40; t++) Round(w, t, b ^ c ^ d, k, ref a, ref b, ref c, ref d, ref e);
        k = Vector256.Create(0x8F1BBCDCu);
        for (int t = 40; t < 60; t++) Round(w, t, (b & c) | (b & d) | (c & d), k, ref a, ref b, ref c, ref d, ref e);
        k = Vector256.Create(0xCA62C1D6u);
        for (int t = 60; t < 80; t++) Round(w, t, b ^ c ^ d, k, ref a, ref b, ref c, ref d, ref e);

        a += Vector256.Create(0x67452301u);
        b += Vector256.Create(0xEFCDAB89u);
        c += Vector256.Create(0x98BADCFEu);
        d += Vector256.Create(0x10325476u);
        e += Vector256.Create(0xC3D2E1F0u);
        for (int i = 0; i < Lanes; i++)
        {
            Span<byte> digest = digests.Slice(20 * i, 20);
            BinaryPrimitives.WriteUInt32BigEndian(digest, a.GetElement(i));
            BinaryPrimitives.WriteUInt32BigEndian(digest[4..], b.GetElement(i));
            BinaryPrimitives.WriteUInt32BigEndian(digest[8..], c.GetElement(i));
            BinaryPrimitives.WriteUInt32BigEndian(digest[12..], d.GetElement(i));
            BinaryPrimitives.WriteUInt32BigEndian(digest[16..], e.GetElement(i));
        }
    }

    /// <summary>Round t of <see cref="Hash8"/>, with its function of b, c, d and its constant.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(Span<Vector256<uint>> w, int t, Vector256<uint> f, Vector256<uint> k,
        ref Vector256<uint> a, ref Vector256<uint> b, ref Vector256<uint> c, ref Vector256<uint> d, ref Vector256<uint> e)
    {
        // The schedule in 16 words: w[t] = rotl1(w[t-3] ^ w[t-8] ^ w[t-14] ^ w[t-16]), in place of w[t-16].
        if (t >= 16) w[t & 15] = RotateLeft(w[(t - 3) & 15] ^ w[(t - 8) & 15] ^ w[(t - 14) & 15] ^ w[t & 15], 1);
        Vector256<uint> next = RotateLeft(a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = RotateLeft(b, 30);
        b = a;
        a = next;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RotateLeft(Vector256<uint> x, int n) => Vector256.ShiftLeft(x, n) | Vector256.ShiftRightLogical(x, 32 - n);
}
