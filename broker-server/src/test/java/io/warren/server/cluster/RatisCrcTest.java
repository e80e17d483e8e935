package io.warren.server.cluster;

import io.warren.server.Broker;
import org.apache.ratis.util.PureJavaCrc32C;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.Checksum;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * warren's {@code org.apache.ratis.util.PureJavaCrc32C} (the JDK's intrinsic CRC32C) against
 * Ratis' own class of that name, loaded from the ratis-common jar: the same public members, the
 * same values and the same effect on a buffer, so Ratis' log code runs with either and a log
 * written by one reads with the other.
 */
class RatisCrcTest {
    /** Ratis' class, from the jar that holds the rest of org.apache.ratis.util. */
    private static Class<?> ratisOwn() throws Exception {
        URL jar = org.apache.ratis.util.JavaUtils.class.getProtectionDomain().getCodeSource().getLocation();
        URLClassLoader loader = new URLClassLoader(new URL[] {jar}, ClassLoader.getPlatformClassLoader());
        Class<?> c = Class.forName("org.apache.ratis.util.PureJavaCrc32C", true, loader);
        assertNotSame(PureJavaCrc32C.class, c);
        return c;
    }

    @Test
    void warrensClassIsTheOneLoadedBesideTheBroker() {
        assertEquals(Broker.class.getProtectionDomain().getCodeSource().getLocation(),
                PureJavaCrc32C.class.getProtectionDomain().getCodeSource().getLocation(),
                "org.apache.ratis.util.PureJavaCrc32C must come from broker-server, before ratis-common");
        assertNotEquals(org.apache.ratis.util.JavaUtils.class.getProtectionDomain().getCodeSource().getLocation(),
                PureJavaCrc32C.class.getProtectionDomain().getCodeSource().getLocation());
    }

    @Test
    void everyPublicMemberOfRatisClassIsHere() throws Exception {
        Class<?> theirs = ratisOwn();
        assertEquals(Arrays.asList(theirs.getInterfaces()).contains(Checksum.class),
                Arrays.asList(PureJavaCrc32C.class.getInterfaces()).contains(Checksum.class));
        int checked = 0;
        for (Method m : theirs.getDeclaredMethods()) {
            if (!Modifier.isPublic(m.getModifiers())) {
                continue;
            }
            Method ours = PureJavaCrc32C.class.getDeclaredMethod(m.getName(), m.getParameterTypes());
            assertTrue(Modifier.isPublic(ours.getModifiers()), m.toString());
            assertEquals(Modifier.isStatic(m.getModifiers()), Modifier.isStatic(ours.getModifiers()), m.toString());
            assertEquals(m.getReturnType(), ours.getReturnType(), m.toString());
            checked++;
        }
        for (Constructor<?> c : theirs.getConstructors()) {
            assertTrue(Modifier.isPublic(PureJavaCrc32C.class.getConstructor(c.getParameterTypes()).getModifiers()));
            checked++;
        }
        assertTrue(checked >= 6, "Ratis' class has the constructor and five public methods; found " + checked);
        for (var f : theirs.getFields()) {
            PureJavaCrc32C.class.getField(f.getName());
        }
    }

    @Test
    void theKnownCheckValueOfCrc32c() {
        PureJavaCrc32C crc = new PureJavaCrc32C();
        crc.update("123456789".getBytes(StandardCharsets.US_ASCII), 0, 9);
        assertEquals(0xE3069283L, crc.getValue());
        crc.reset();
        assertEquals(0L, crc.getValue());
    }

    @Test
    void sameValuesAndSameBufferEffectsAsRatisClassOnRandomInput() throws Exception {
        Class<?> theirs = ratisOwn();
        Random random = new Random(15);
        for (int round = 0; round < 500; round++) {
            Checksum a = (Checksum) theirs.getConstructor().newInstance();
            PureJavaCrc32C b = new PureJavaCrc32C();
            int steps = 1 + random.nextInt(4);
            for (int s = 0; s < steps; s++) {
                byte[] bytes = new byte[random.nextInt(round < 50 ? 16 : 2000)];
                random.nextBytes(bytes);
                int off = bytes.length == 0 ? 0 : random.nextInt(bytes.length);
                int len = random.nextInt(bytes.length - off + 1);
                switch (random.nextInt(4)) {
                    case 0 -> {
                        a.update(bytes, off, len);
                        b.update(bytes, off, len);
                    }
                    case 1 -> {
                        int one = random.nextInt();
                        a.update(one);
                        b.update(one);
                    }
                    default -> {
                        boolean direct = random.nextBoolean();
                        ByteBuffer x = buffer(bytes, off, len, direct);
                        ByteBuffer y = buffer(bytes, off, len, direct);
                        theirs.getMethod("update", ByteBuffer.class).invoke(a, x);
                        b.update(y);
                        assertEquals(x.position(), y.position(), "position after update(ByteBuffer)");
                        assertEquals(x.limit(), y.limit());
                        assertEquals(x.order(), y.order());
                        assertEquals(ByteOrder.LITTLE_ENDIAN, y.order());
                    }
                }
                assertEquals(a.getValue(), b.getValue(), "round " + round + " step " + s);
            }
            if (random.nextBoolean()) {
                a.reset();
                b.reset();
                assertEquals(a.getValue(), b.getValue());
            }
        }
    }

    private static ByteBuffer buffer(byte[] bytes, int off, int len, boolean direct) {
        ByteBuffer buf = direct ? ByteBuffer.allocateDirect(bytes.length) : ByteBuffer.allocate(bytes.length);
        buf.put(bytes).clear();
        return buf.position(off).limit(off + len);
    }
}
