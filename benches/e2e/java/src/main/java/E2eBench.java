import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * The Java side of the end-to-end benchmarks: the workloads of Kafka Streams'
 * SimpleBenchmark and YahooBenchmark, written as the Rust side
 * (benches/e2e/workloads.rs) writes them, on the same topics, with the same
 * counting and clock, printing the same JSON line.
 *
 * <pre>
 * E2eBench run --bootstrap B --prefix P --workload W [--guarantee G] [--records N]
 *              [--restore-keys K] [--state-dir D] [--timeout-s S]
 * </pre>
 */
public final class E2eBench {
    private E2eBench() {
    }

    // ------------------------------------------------------------ options

    static String bootstrap;
    static String prefix;
    static String workload;
    static String guarantee = "at_least_once";
    static long records = 1_000_000L;
    static long restoreKeys = 1_000_000L;
    static String stateDir = System.getProperty("java.io.tmpdir") + "/kstreams-e2e";
    static long timeoutMs = 900_000L;

    static String input1() { return prefix + "-input-1"; }
    static String input2() { return prefix + "-input-2"; }
    static String sink() { return prefix + "-sink"; }
    static String campaigns() { return prefix + "-yahoo-campaigns"; }
    static String events() { return prefix + "-yahoo-events"; }
    static String restoreInput() { return prefix + "-restore-input"; }
    static String restoreApp() { return prefix + "-restore-java"; }

    // ------------------------------------------------------------ counting

    /** Counts processed records; notes when the first and the N-th went by. */
    static final class Progress {
        final long target;
        final long start = System.nanoTime();
        final AtomicLong count = new AtomicLong();
        volatile long firstNs;
        volatile long doneNs;

        Progress(final long target) {
            this.target = target;
        }

        void hit() {
            final long c = count.incrementAndGet();
            if (c == 1) {
                firstNs = Math.max(1, System.nanoTime() - start);
            }
            if (c == target) {
                doneNs = Math.max(1, System.nanoTime() - start);
            }
        }
    }

    /** ByteArray whose deserializer counts: how a table source is counted. */
    static Serde<byte[]> countingBytes(final Progress p) {
        final Deserializer<byte[]> d = (topic, data) -> {
            p.hit();
            return data;
        };
        return Serdes.serdeFrom(new ByteArraySerializer(), d);
    }

    // ------------------------------------------------------------ workloads

    /** SimpleBenchmark's joiner: the left value, else the right one, else 100 zero bytes. */
    static final ValueJoiner<byte[], byte[], byte[]> VALUE_JOINER = (v1, v2) -> {
        if (v1 != null) {
            return v1;
        } else if (v2 != null) {
            return v2;
        } else {
            return new byte[100];
        }
    };

    /** streamprocesswithstatestore: a get, then a put, per record. */
    static final class GetPut implements Processor<Integer, byte[], Void, Void> {
        private KeyValueStore<Integer, byte[]> store;

        @Override
        public void init(final ProcessorContext<Void, Void> context) {
            store = context.getStateStore("store");
        }

        @Override
        public void process(final Record<Integer, byte[]> record) {
            store.get(record.key());
            store.put(record.key(), record.value());
        }
    }

    /** streamprocesswithwindowstore: fetch keys key-10..key+10 over the last second, then put. */
    static final class WindowFetchPut implements Processor<Integer, byte[], Void, Void> {
        private WindowStore<Integer, byte[]> store;

        @Override
        public void init(final ProcessorContext<Void, Void> context) {
            store = context.getStateStore("store");
        }

        @Override
        public void process(final Record<Integer, byte[]> record) {
            final long ts = record.timestamp();
            final int key = record.key();
            try (KeyValueIterator<Windowed<Integer>, byte[]> it = store.fetch(
                    key - 10, key + 10, Instant.ofEpochMilli(ts - 1000L), Instant.ofEpochMilli(ts))) {
                while (it.hasNext()) {
                    it.next();
                }
            }
            store.put(key, record.value(), ts);
        }
    }

    /** A Yahoo event (YahooBenchmark's ProjectedEvent); unused fields stay null. */
    public static final class ProjectedEvent {
        public String eventType;
        public String adID;
        public long eventTime;
        public String userID;
        public String pageID;
        public String addType;
        public String ipAddress;
    }

    /** A Yahoo campaign row. */
    public static final class CampaignAd {
        public String adID;
        public String campaignID;
    }

    static <T> Serde<T> json(final Class<T> type) {
        final ObjectMapper mapper = new ObjectMapper();
        final Serializer<T> ser = (topic, data) -> {
            if (data == null) {
                return null;
            }
            try {
                return mapper.writeValueAsBytes(data);
            } catch (final Exception e) {
                throw new SerializationException(e);
            }
        };
        final Deserializer<T> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return mapper.readValue(bytes, type);
            } catch (final Exception e) {
                throw new SerializationException(e);
            }
        };
        return Serdes.serdeFrom(ser, de);
    }

    static Topology topology(final Progress p) {
        final StreamsBuilder b = new StreamsBuilder();
        final Serde<Integer> ks = Serdes.Integer();
        final Serde<byte[]> vs = Serdes.ByteArray();
        switch (workload) {
            case "streamprocess":
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit());
                break;
            case "streamprocesswithsink":
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                    .to(sink(), Produced.with(ks, vs));
                break;
            case "streamprocesswithstatestore":
            case "restore":
                b.addStateStore(Stores.keyValueStoreBuilder(
                    Stores.persistentKeyValueStore("store"), ks, vs).withCachingEnabled());
                if (workload.equals("restore")) {
                    b.stream(restoreInput(), Consumed.with(ks, vs)).process(GetPut::new, "store");
                } else {
                    b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                        .process(GetPut::new, "store");
                }
                break;
            case "streamprocesswithwindowstore":
                b.addStateStore(Stores.windowStoreBuilder(
                    Stores.persistentWindowStore("store", Duration.ofMillis(3000), Duration.ofMillis(1000), false),
                    ks, vs).withCachingEnabled());
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                    .process(WindowFetchPut::new, "store");
                break;
            case "streamcount":
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                    .groupByKey(Grouped.with(ks, vs))
                    .count();
                break;
            case "streamcountwindowed":
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                    .groupByKey(Grouped.with(ks, vs))
                    .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofMillis(1000))
                        .advanceBy(Duration.ofMillis(500)))
                    .count();
                break;
            case "streamtablejoin": {
                final KTable<Integer, byte[]> table = b.table(input2(), Consumed.with(ks, vs));
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                    .leftJoin(table, VALUE_JOINER, Joined.with(ks, vs, vs))
                    .foreach((k, v) -> { });
                break;
            }
            case "streamstreamjoin": {
                final KStream<Integer, byte[]> other = b.stream(input2(), Consumed.with(ks, vs));
                b.stream(input1(), Consumed.with(ks, vs)).peek((k, v) -> p.hit())
                    .leftJoin(other, VALUE_JOINER,
                        JoinWindows.ofTimeDifferenceWithNoGrace(Duration.ofSeconds(10)),
                        StreamJoined.with(ks, vs, vs))
                    .foreach((k, v) -> { });
                break;
            }
            case "tabletablejoin": {
                final KTable<Integer, byte[]> left = b.table(input1(), Consumed.with(ks, countingBytes(p)),
                    Materialized.with(ks, vs));
                final KTable<Integer, byte[]> right = b.table(input2(), Consumed.with(ks, vs));
                left.leftJoin(right, VALUE_JOINER).toStream().foreach((k, v) -> { });
                break;
            }
            case "yahoo": {
                final Serde<ProjectedEvent> eventSerde = json(ProjectedEvent.class);
                final KStream<String, ProjectedEvent> filtered = b
                    .stream(events(), Consumed.with(Serdes.String(), eventSerde))
                    .peek((k, v) -> p.hit())
                    .filter((k, v) -> v.eventType.equals("view"))
                    .mapValues(v -> {
                        final ProjectedEvent e = new ProjectedEvent();
                        e.adID = v.adID;
                        e.eventTime = v.eventTime;
                        e.eventType = v.eventType;
                        return e;
                    });
                final KTable<String, CampaignAd> campaigns = b
                    .table(campaigns(), Consumed.with(Serdes.String(), Serdes.String()),
                        Materialized.as("campaign-state"))
                    .mapValues(v -> {
                        final String[] parts = v.split(":");
                        final CampaignAd ad = new CampaignAd();
                        ad.adID = parts[0];
                        ad.campaignID = parts[1];
                        return ad;
                    });
                filtered.join(campaigns, (e, c) -> c.campaignID)
                    .selectKey((k, v) -> v)
                    .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                    .windowedBy(TimeWindows.ofSizeWithNoGrace(Duration.ofSeconds(10)))
                    .count();
                break;
            }
            default:
                throw new IllegalArgumentException("unknown workload " + workload);
        }
        return b.build();
    }

    // ------------------------------------------------------------ running

    /** Times restoration: from the first partition's start to the last one's end. */
    static final class RestoreClock implements StateRestoreListener {
        final long start = System.nanoTime();
        long firstStart = -1;
        long lastEnd = -1;
        long restored;
        long active;

        @Override
        public synchronized void onRestoreStart(final TopicPartition tp, final String store,
                                                final long startOffset, final long endOffset) {
            if (firstStart < 0) {
                firstStart = System.nanoTime() - start;
            }
            active++;
        }

        @Override
        public void onBatchRestored(final TopicPartition tp, final String store,
                                    final long batchEndOffset, final long numRestored) {
        }

        @Override
        public synchronized void onRestoreEnd(final TopicPartition tp, final String store,
                                              final long totalRestored) {
            lastEnd = System.nanoTime() - start;
            restored += totalRestored;
            active--;
        }

        synchronized boolean done(final long target) {
            return active == 0 && restored >= target && lastEnd >= 0;
        }
    }

    static Properties config(final String applicationId, final String dir) {
        // Kafka Streams' defaults otherwise, as on the Rust side.
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.STATE_DIR_CONFIG, dir);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        return props;
    }

    static String result(final long n, final double seconds, final double first, final Double running) {
        final StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT,
            "{\"workload\":\"%s\",\"impl\":\"java\",\"guarantee\":\"%s\",\"records\":%d,"
                + "\"seconds\":%.6f,\"records_per_s\":%.3f,\"first_record_s\":%.6f,\"peak_rss_bytes\":%d",
            workload, guarantee, n, seconds, n / seconds, first, peakRssBytes()));
        if (running != null) {
            sb.append(String.format(Locale.ROOT, ",\"start_to_running_s\":%.6f", running));
        }
        return sb.append('}').toString();
    }

    static long peakRssBytes() {
        try {
            for (final String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.split("\\s+")[1]) * 1024L;
                }
            }
        } catch (final IOException | RuntimeException e) {
            // reported as 0
        }
        return 0;
    }

    static void deleteTree(final Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
        } catch (final IOException e) {
            // best effort
        }
    }

    static String runStreams() throws InterruptedException {
        final boolean restore = workload.equals("restore");
        final long target = restore ? restoreKeys : records;
        final Progress p = new Progress(target);
        final Topology topology = topology(p);
        final String appId = restore ? restoreApp()
            : prefix + "-" + workload + "-" + guarantee + "-java-" + System.currentTimeMillis();
        final Path dir = Path.of(stateDir, "java-" + ProcessHandle.current().pid());
        final KafkaStreams streams = new KafkaStreams(topology, config(appId, dir.toString()));
        final RestoreClock clock = new RestoreClock();
        if (restore) {
            streams.setGlobalStateRestoreListener(clock);
        }
        final Throwable[] failure = new Throwable[1];
        streams.setUncaughtExceptionHandler(e -> {
            failure[0] = e;
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        final long started = System.nanoTime();
        streams.start();
        final long deadline = started + timeoutMs * 1_000_000L;
        String error = null;
        Double running = null;
        while (true) {
            if (restore ? clock.done(target) : p.doneNs != 0) {
                break;
            }
            final KafkaStreams.State s = streams.state();
            if (s == KafkaStreams.State.ERROR || s == KafkaStreams.State.PENDING_ERROR
                || s == KafkaStreams.State.NOT_RUNNING || s == KafkaStreams.State.PENDING_SHUTDOWN) {
                error = "the instance stopped (" + s + ")" + (failure[0] != null ? ": " + failure[0] : "");
                break;
            }
            if (System.nanoTime() > deadline) {
                error = "timed out";
                break;
            }
            Thread.sleep(1);
        }
        if (error == null && restore) {
            while (streams.state() != KafkaStreams.State.RUNNING && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            running = (System.nanoTime() - started) / 1e9;
        }
        // Leave the group on close, as the Rust runtime does: Kafka Streams'
        // default close keeps the member until its session expires, and the
        // next restore run, under the same application id, would wait that
        // out (40-45 s) before it could start. The clock has stopped by now.
        streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
            .withTimeout(Duration.ofSeconds(120)));
        deleteTree(dir);
        if (error != null) {
            throw new IllegalStateException(error + " after " + p.count.get() + " of " + target + " records");
        }
        if (restore) {
            synchronized (clock) {
                return result(clock.restored, (clock.lastEnd - clock.firstStart) / 1e9,
                    clock.firstStart / 1e9, running);
            }
        }
        return result(target, p.doneNs / 1e9, p.firstNs / 1e9, null);
    }

    /** The raw-client baselines with the Java clients (SimpleBenchmark's consume and consumeproduce). */
    static String runRaw(final boolean produce) {
        final long started = System.nanoTime();
        final Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        final Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        // Kafka Streams' producer default, as the Rust baseline.
        pp.put(ProducerConfig.LINGER_MS_CONFIG, 100);
        long count = 0;
        long first = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(c);
             KafkaProducer<byte[], byte[]> producer = produce ? new KafkaProducer<>(pp) : null) {
            final List<TopicPartition> parts = new ArrayList<>();
            for (final PartitionInfo info : consumer.partitionsFor(input1())) {
                parts.add(new TopicPartition(info.topic(), info.partition()));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            final long deadline = started + timeoutMs * 1_000_000L;
            while (count < records) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("timed out after " + count + " records");
                }
                final ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(100));
                for (final ConsumerRecord<byte[], byte[]> r : batch) {
                    if (count == 0) {
                        first = System.nanoTime() - started;
                    }
                    count++;
                    if (producer != null) {
                        producer.send(new ProducerRecord<>(sink(), null, r.timestamp(), r.key(), r.value()));
                    }
                    if (count == records) {
                        break;
                    }
                }
            }
            if (producer != null) {
                producer.flush();
            }
        }
        final double seconds = (System.nanoTime() - started) / 1e9;
        return result(count, seconds, first / 1e9, null);
    }

    public static void main(final String[] args) throws Exception {
        if (args.length == 0 || !args[0].equals("run")) {
            System.err.println("usage: E2eBench run --bootstrap B --prefix P --workload W [options]");
            System.exit(2);
        }
        for (int i = 1; i < args.length; i++) {
            final String flag = args[i];
            if (i + 1 >= args.length) {
                System.err.println("E2eBench: " + flag + " needs a value");
                System.exit(2);
            }
            final String v = args[++i];
            switch (flag) {
                case "--bootstrap": bootstrap = v; break;
                case "--prefix": prefix = v; break;
                case "--workload": workload = v; break;
                case "--guarantee": guarantee = v; break;
                case "--records": records = Long.parseLong(v.replace("_", "")); break;
                case "--restore-keys": restoreKeys = Long.parseLong(v.replace("_", "")); break;
                case "--state-dir": stateDir = v; break;
                case "--timeout-s": timeoutMs = Long.parseLong(v) * 1000L; break;
                case "--partitions": break;
                default:
                    System.err.println("E2eBench: unknown option " + flag);
                    System.exit(2);
            }
        }
        if (bootstrap == null || prefix == null || workload == null) {
            System.err.println("E2eBench: --bootstrap, --prefix and --workload are required");
            System.exit(2);
        }
        try {
            final String line;
            switch (workload) {
                case "consume": line = runRaw(false); break;
                case "consumeproduce": line = runRaw(true); break;
                default: line = runStreams();
            }
            System.out.println(line);
            System.exit(0);
        } catch (final Exception e) {
            System.err.println("E2eBench run " + workload + ": " + e);
            System.exit(1);
        }
    }
}
