package org.apache.ratis.util;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;
import java.util.zip.Checksum;

/**
 * warren's stand-in for Ratis' class of this name: the same CRC-32C (Castagnoli) values through
 * the JDK's {@link CRC32C}, which the JIT turns into the processor's CRC32 instructions, where
 * Ratis' own class computes them a byte table at a time.
 *
 * <p>Why: Ratis 3.2.2 creates this class by name for every log segment it writes
 * ({@code SegmentedRaftLogOutputStream}) and reads ({@code SegmentedRaftLogReader}), with no
 * setting to choose another checksum, and in a JFR profile of a quorum queue's leader under
 * PerfTest (bench/quorum.sh) its table lookups were the hottest Java method, 11-15% of the
 * samples. bin/warren puts broker-server.jar before the libraries, so this class is the one
 * loaded; where it is not (Ratis' class first on a class path), the values are the same, so a
 * log written by either reads with the other. {@code RatisCrcTest} checks both: every public
 * member of Ratis' class is here with the same signature, and the two agree on every input.
 * On a Ratis upgrade, that test says whether this class still fits.
 */
public class PureJavaCrc32C implements Checksum {
    private final CRC32C crc = new CRC32C();

    public PureJavaCrc32C() {
    }

    @Override
    public long getValue() {
        return crc.getValue();
    }

    @Override
    public void reset() {
        crc.reset();
    }

    @Override
    public void update(byte[] b, int off, int len) {
        crc.update(b, off, len);
    }

    /**
     * As Ratis' class does: the bytes from the buffer's position to its limit, leaving its
     * position where it was (the JDK's would move it to the limit) and its byte order little-endian.
     */
    @Override
    public void update(ByteBuffer buffer) {
        buffer.order(ByteOrder.LITTLE_ENDIAN);
        int position = buffer.position();
        crc.update(buffer);
        buffer.position(position);
    }

    @Override
    public final void update(int b) {
        crc.update(b);
    }
}
