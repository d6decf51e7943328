import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.ValueJoiner;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Runs the canonical differential-test topologies (documented in README.md)
 * in Kafka's TopologyTestDriver.
 *
 * <pre>RefRunner &lt;topology&gt; &lt;input.jsonl&gt; &lt;output.jsonl&gt; [&lt;topology&gt; &lt;input&gt; &lt;output&gt; ...]</pre>
 *
 * Exit codes: 0 success, 2 usage error / unknown topology / bad input,
 * 1 the topology itself failed (an exception inside Kafka Streams or a lambda).
 */
public final class RefRunner {

    static final String OUTPUT_TOPIC = "output";

    static final Serde<String> STRING = Serdes.String();
    static final Serde<Long> LONG = Serdes.Long();

    /** One canonical topology: its input topics, how to build it, and how to read its output. */
    record Spec(List<String> inputTopics,
                Consumer<StreamsBuilder> build,
                Deserializer<?> outKey,
                Deserializer<?> outValue,
                Map<String, String> config) {
        Spec(final List<String> inputTopics,
             final Consumer<StreamsBuilder> build,
             final Deserializer<?> outKey,
             final Deserializer<?> outValue) {
            this(inputTopics, build, outKey, outValue, Map.of());
        }
    }

    /** One parsed input line. */
    record Input(int line, String topic, String key, String value, long ts) {
    }

    /** Bad command line or input: reported without a stack trace, exit code 2. */
    static final class UsageException extends RuntimeException {
        UsageException(final String message) {
            super(message);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Canonical topologies. Keep in sync with README.md: the Rust side mirrors these exactly.
    // ------------------------------------------------------------------------------------------

    static final ValueJoiner<String, String, String> JOINER = (l, r) -> l + "|" + r;

    static final Map<String, Spec> TOPOLOGIES = new LinkedHashMap<>();

    /** Event time of topology 11: the input's `v<i>` values shift their record's time by
     *  (i % 5) * 20 - 40 ms; every 7th takes the partition time instead (-1, so dropped,
     *  before the first); a null value keeps the record's time. */
    static final TimestampExtractor SHIFTED_EVENT_TIME = (record, partitionTime) -> {
        final Object v = record.value();
        if (v == null) {
            return record.timestamp();
        }
        final long i = Long.parseLong(((String) v).substring(1));
        if (i % 7 == 0) {
            return partitionTime;
        }
        return record.timestamp() + (i % 5) * 20 - 40;
    };

    static {
        TOPOLOGIES.put("word-count", new Spec(List.of("input"), RefRunner::wordCount,
            STRING.deserializer(), LONG.deserializer()));
        TOPOLOGIES.put("table-agg", new Spec(List.of("input"), RefRunner::tableAgg,
            STRING.deserializer(), LONG.deserializer()));

        // size 100 ms, grace 50 ms (tumbling: advance = size)
        final TimeWindows tumbling = TimeWindows.ofSizeAndGrace(Duration.ofMillis(100), Duration.ofMillis(50));
        // size 100 ms, grace 50 ms, advance 30 ms
        final TimeWindows hopping = TimeWindows.ofSizeAndGrace(Duration.ofMillis(100), Duration.ofMillis(50))
            .advanceBy(Duration.ofMillis(30));
        final SlidingWindows sliding = SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofMillis(50), Duration.ofMillis(30));
        final SessionWindows session = SessionWindows.ofInactivityGapAndGrace(Duration.ofMillis(30), Duration.ofMillis(20));

        final Deserializer<Windowed<String>> tumblingKey =
            WindowedSerdes.timeWindowedSerdeFrom(String.class, tumbling.size()).deserializer();
        final Deserializer<Windowed<String>> hoppingKey =
            WindowedSerdes.timeWindowedSerdeFrom(String.class, hopping.size()).deserializer();
        // A sliding window is [start, start + timeDifference] (both ends inclusive), so the
        // windowed serde's "size" is the time difference.
        final Deserializer<Windowed<String>> slidingKey =
            WindowedSerdes.timeWindowedSerdeFrom(String.class, sliding.timeDifferenceMs()).deserializer();
        final Deserializer<Windowed<String>> sessionKey =
            WindowedSerdes.sessionWindowedSerdeFrom(String.class).deserializer();

        for (final boolean suppress : new boolean[] {false, true}) {
            final String suffix = suppress ? "-suppressed" : "";
            TOPOLOGIES.put("tumbling-count" + suffix, new Spec(List.of("input"),
                b -> emitWindowed(groupInput(b).windowedBy(tumbling).count(), suppress, tumbling.size()),
                tumblingKey, LONG.deserializer()));
        }
        for (final boolean suppress : new boolean[] {false, true}) {
            final String suffix = suppress ? "-suppressed" : "";
            TOPOLOGIES.put("hopping-count" + suffix, new Spec(List.of("input"),
                b -> emitWindowed(groupInput(b).windowedBy(hopping).count(), suppress, hopping.size()),
                hoppingKey, LONG.deserializer()));
        }
        for (final boolean suppress : new boolean[] {false, true}) {
            final String suffix = suppress ? "-suppressed" : "";
            TOPOLOGIES.put("sliding-count" + suffix, new Spec(List.of("input"),
                b -> emitWindowed(groupInput(b).windowedBy(sliding).count(), suppress, sliding.timeDifferenceMs()),
                slidingKey, LONG.deserializer()));
        }
        for (final boolean suppress : new boolean[] {false, true}) {
            final String suffix = suppress ? "-suppressed" : "";
            TOPOLOGIES.put("session-count" + suffix, new Spec(List.of("input"),
                b -> {
                    KTable<Windowed<String>, Long> counts = groupInput(b).windowedBy(session).count();
                    if (suppress) {
                        counts = counts.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
                    }
                    counts.toStream().to(OUTPUT_TOPIC,
                        Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class), LONG));
                },
                sessionKey, LONG.deserializer()));
        }

        TOPOLOGIES.put("extracted-tumbling-count", new Spec(List.of("input"),
            b -> emitWindowed(
                b.stream("input", Consumed.with(STRING, STRING).withTimestampExtractor(SHIFTED_EVENT_TIME))
                    .groupByKey(Grouped.with(STRING, STRING))
                    .windowedBy(tumbling)
                    .count(),
                false, tumbling.size()),
            tumblingKey, LONG.deserializer()));

        TOPOLOGIES.put("processing-continue", new Spec(List.of("input"),
            RefRunner::processingContinue, STRING.deserializer(), STRING.deserializer(),
            Map.of("processing.exception.handler",
                "org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler")));

        for (final String kind : List.of("inner", "left", "outer")) {
            TOPOLOGIES.put("stream-stream-" + kind, new Spec(List.of("left", "right"),
                b -> streamStreamJoin(b, kind), STRING.deserializer(), STRING.deserializer()));
        }
        for (final String kind : List.of("inner", "left")) {
            TOPOLOGIES.put("stream-table-" + kind, new Spec(List.of("left", "right"),
                b -> streamTableJoin(b, kind), STRING.deserializer(), STRING.deserializer()));
        }
        for (final String kind : List.of("inner", "left", "outer")) {
            TOPOLOGIES.put("table-table-" + kind, new Spec(List.of("left", "right"),
                b -> tableTableJoin(b, kind), STRING.deserializer(), STRING.deserializer()));
        }
        for (final String kind : List.of("inner", "left")) {
            TOPOLOGIES.put("fk-" + kind, new Spec(List.of("left", "right"),
                b -> foreignKeyJoin(b, kind), STRING.deserializer(), STRING.deserializer()));
        }
    }

    static void wordCount(final StreamsBuilder builder) {
        final KStream<String, String> lines = builder.stream("input", Consumed.with(STRING, STRING));
        lines
            .flatMapValues(v -> v == null
                ? Collections.<String>emptyList()
                : Arrays.stream(v.toLowerCase(Locale.ROOT).split("\\s+"))
                    .filter(w -> !w.isEmpty())
                    .collect(Collectors.toList()))
            .groupBy((k, w) -> w, Grouped.with(STRING, STRING))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts-store"))
            .toStream()
            .to(OUTPUT_TOPIC, Produced.with(STRING, LONG));
    }

    static void tableAgg(final StreamsBuilder builder) {
        final KTable<String, String> table = builder.table("input", Consumed.with(STRING, STRING));
        table
            .groupBy(
                (k, v) -> KeyValue.pair(
                    v.substring(0, v.indexOf(':')),
                    Long.parseLong(v.substring(v.indexOf(':') + 1))),
                Grouped.with(STRING, LONG))
            .aggregate(
                () -> 0L,
                (k, v, agg) -> agg + v,
                (k, v, agg) -> agg - v,
                Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>with(STRING, LONG))
            .toStream()
            .to(OUTPUT_TOPIC, Produced.with(STRING, LONG));
    }

    /** Topology 12: a processor that fails on null values and on every 4th `v<i>`, beside a
     *  copying branch, under the log-and-continue processing handler. */
    static void processingContinue(final StreamsBuilder builder) {
        final KStream<String, String> input = builder.stream("input", Consumed.with(STRING, STRING));
        input
            .process(() -> new Processor<String, String, String, String>() {
                private ProcessorContext<String, String> context;

                @Override
                public void init(final ProcessorContext<String, String> context) {
                    this.context = context;
                }

                @Override
                public void process(final Record<String, String> record) {
                    final String v = record.value();
                    if (v == null || Long.parseLong(v.substring(1)) % 4 == 0) {
                        throw new IllegalStateException("cannot take " + v);
                    }
                    context.forward(record.withValue(v.toUpperCase(Locale.ROOT)));
                }
            })
            .to(OUTPUT_TOPIC, Produced.with(STRING, STRING));
        input
            .mapValues(v -> "copy:" + v)
            .to(OUTPUT_TOPIC, Produced.with(STRING, STRING));
    }

    static KGroupedStream<String, String> groupInput(final StreamsBuilder builder) {
        return builder.stream("input", Consumed.with(STRING, STRING)).groupByKey(Grouped.with(STRING, STRING));
    }

    static void emitWindowed(final KTable<Windowed<String>, Long> counts,
                             final boolean suppress,
                             final long windowSizeMs) {
        KTable<Windowed<String>, Long> result = counts;
        if (suppress) {
            result = result.suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()));
        }
        result.toStream().to(OUTPUT_TOPIC,
            Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, windowSizeMs), LONG));
    }

    static void streamStreamJoin(final StreamsBuilder builder, final String kind) {
        final KStream<String, String> left = builder.stream("left", Consumed.with(STRING, STRING));
        final KStream<String, String> right = builder.stream("right", Consumed.with(STRING, STRING));
        // before = 50 ms, after = 20 ms, grace = 10 ms
        final JoinWindows windows = JoinWindows
            .ofTimeDifferenceAndGrace(Duration.ofMillis(50), Duration.ofMillis(10))
            .after(Duration.ofMillis(20));
        final StreamJoined<String, String, String> joined = StreamJoined.with(STRING, STRING, STRING);
        final KStream<String, String> out;
        switch (kind) {
            case "inner": out = left.join(right, JOINER, windows, joined); break;
            case "left": out = left.leftJoin(right, JOINER, windows, joined); break;
            case "outer": out = left.outerJoin(right, JOINER, windows, joined); break;
            default: throw new IllegalArgumentException(kind);
        }
        out.to(OUTPUT_TOPIC, Produced.with(STRING, STRING));
    }

    static void streamTableJoin(final StreamsBuilder builder, final String kind) {
        final KStream<String, String> left = builder.stream("left", Consumed.with(STRING, STRING));
        final KTable<String, String> right = builder.table("right", Consumed.with(STRING, STRING));
        final Joined<String, String, String> joined = Joined.with(STRING, STRING, STRING);
        final KStream<String, String> out;
        switch (kind) {
            case "inner": out = left.join(right, JOINER, joined); break;
            case "left": out = left.leftJoin(right, JOINER, joined); break;
            default: throw new IllegalArgumentException(kind);
        }
        out.to(OUTPUT_TOPIC, Produced.with(STRING, STRING));
    }

    static void tableTableJoin(final StreamsBuilder builder, final String kind) {
        final KTable<String, String> left = builder.table("left", Consumed.with(STRING, STRING));
        final KTable<String, String> right = builder.table("right", Consumed.with(STRING, STRING));
        final KTable<String, String> out;
        switch (kind) {
            case "inner": out = left.join(right, JOINER); break;
            case "left": out = left.leftJoin(right, JOINER); break;
            case "outer": out = left.outerJoin(right, JOINER); break;
            default: throw new IllegalArgumentException(kind);
        }
        out.toStream().to(OUTPUT_TOPIC, Produced.with(STRING, STRING));
    }

    static void foreignKeyJoin(final StreamsBuilder builder, final String kind) {
        final KTable<String, String> left = builder.table("left", Consumed.with(STRING, STRING));
        final KTable<String, String> right = builder.table("right", Consumed.with(STRING, STRING));
        final Function<String, String> foreignKey = v -> v.split(":")[0];
        final KTable<String, String> out;
        switch (kind) {
            case "inner": out = left.join(right, foreignKey, JOINER); break;
            case "left": out = left.leftJoin(right, foreignKey, JOINER); break;
            default: throw new IllegalArgumentException(kind);
        }
        out.toStream().to(OUTPUT_TOPIC, Produced.with(STRING, STRING));
    }

    // ------------------------------------------------------------------------------------------
    // Driver plumbing
    // ------------------------------------------------------------------------------------------

    static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Where the per-run state directories go. RocksDB syncs its files on close, which on a real
     * disk costs more than the whole run; a tmpfs avoids that. The location has no effect on
     * the output.
     */
    static final Path STATE_ROOT = pickStateRoot();

    static Path pickStateRoot() {
        final Path shm = Paths.get("/dev/shm");
        if (Files.isDirectory(shm) && Files.isWritable(shm)) {
            return shm;
        }
        return Paths.get(System.getProperty("java.io.tmpdir"));
    }
    static final Set<String> INPUT_FIELDS = Set.of("topic", "key", "value", "ts");

    public static void main(final String[] args) {
        try {
            final List<String[]> jobs = parseArgs(args);
            // Parse every input before running anything, so bad input fails fast.
            final List<List<Input>> inputs = new ArrayList<>();
            for (final String[] job : jobs) {
                inputs.add(readInput(Paths.get(job[1]), TOPOLOGIES.get(job[0])));
            }
            runAll(jobs, inputs, threadCount(jobs.size()));
        } catch (final UsageException e) {
            System.err.println("java-ref: " + e.getMessage());
            System.exit(2);
        }
        // Kafka may leave non-daemon threads behind; do not wait for them.
        System.exit(0);
    }

    /**
     * Worker threads: {@code KSTREAMS_JAVA_REF_THREADS} if set (1 runs the triples one after
     * the other), else the number of cores clamped to 2..4. More does not pay: each run is
     * single-threaded, and the caller (the Rust differential test) uses the other cores at the
     * same time.
     */
    static int threadCount(final int jobs) {
        final String env = System.getenv(THREADS_ENV);
        int n;
        if (env != null && !env.isBlank()) {
            try {
                n = Integer.parseInt(env.trim());
            } catch (final NumberFormatException e) {
                n = 0;
            }
            if (n < 1) {
                throw new UsageException(THREADS_ENV + " must be a positive integer, not '" + env + "'");
            }
        } else {
            n = Math.max(2, Math.min(4, Runtime.getRuntime().availableProcessors()));
        }
        return Math.max(1, Math.min(n, jobs));
    }

    static final String THREADS_ENV = "KSTREAMS_JAVA_REF_THREADS";

    /**
     * Runs the triples on a pool of {@code threads} workers. They are independent: each has its
     * own TopologyTestDriver, state directory and output file, and everything shared (the
     * topology specs, the serdes, the ObjectMapper) is immutable or thread-safe, so the outputs
     * are the same as a sequential run's. Each output file is written as soon as its triple
     * finishes. If triples fail, the one reported is the first in argument order, as a
     * sequential run would report; once one has failed, triples not yet started are skipped.
     */
    static void runAll(final List<String[]> jobs, final List<List<Input>> inputs, final int threads) {
        final AtomicInteger workerIds = new AtomicInteger();
        final ExecutorService pool = Executors.newFixedThreadPool(threads, task -> {
            final Thread t = new Thread(task, "java-ref-" + workerIds.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        final AtomicBoolean failed = new AtomicBoolean();
        final List<Future<?>> results = new ArrayList<>();
        for (int i = 0; i < jobs.size(); i++) {
            final String[] job = jobs.get(i);
            final List<Input> input = inputs.get(i);
            results.add(pool.submit(() -> {
                if (failed.get()) {
                    return null;
                }
                try {
                    writeOutput(Paths.get(job[2]), run(job[0], input));
                } catch (final Throwable e) {
                    failed.set(true);
                    throw e;
                }
                return null;
            }));
        }
        pool.shutdown();
        for (int i = 0; i < jobs.size(); i++) {
            final String[] job = jobs.get(i);
            final Throwable error;
            try {
                results.get(i).get();
                continue;
            } catch (final InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the runs", e);
            } catch (final ExecutionException e) {
                error = e.getCause();
            }
            if (error instanceof UsageException) {
                throw (UsageException) error;
            }
            Throwable root = error;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            System.err.println("java-ref: topology '" + job[0] + "' failed on " + job[1] + ": " + root);
            error.printStackTrace(System.err);
            System.exit(1);
        }
    }

    static List<String[]> parseArgs(final String[] args) {
        if (args.length == 1 && (args[0].equals("--list") || args[0].equals("-l"))) {
            TOPOLOGIES.keySet().forEach(System.out::println);
            System.exit(0);
        }
        if (args.length == 0 || args.length % 3 != 0) {
            throw new UsageException("usage: run.sh <topology> <input.jsonl> <output.jsonl> "
                + "[<topology> <input.jsonl> <output.jsonl> ...]   (run.sh --list shows the topologies)");
        }
        final List<String[]> jobs = new ArrayList<>();
        for (int i = 0; i < args.length; i += 3) {
            if (!TOPOLOGIES.containsKey(args[i])) {
                throw new UsageException("unknown topology '" + args[i] + "'; known: "
                    + String.join(", ", TOPOLOGIES.keySet()));
            }
            jobs.add(new String[] {args[i], args[i + 1], args[i + 2]});
        }
        return jobs;
    }

    static List<Input> readInput(final Path path, final Spec spec) {
        final List<String> lines;
        try {
            lines = Files.readAllLines(path, StandardCharsets.UTF_8);
        } catch (final IOException e) {
            throw new UsageException("cannot read input " + path + ": " + e);
        }
        final List<Input> inputs = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            final String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            final String where = path + ":" + (i + 1) + ": ";
            final JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (final JsonProcessingException e) {
                throw new UsageException(where + "invalid JSON: " + e.getOriginalMessage());
            }
            if (node == null || !node.isObject()) {
                throw new UsageException(where + "expected a JSON object");
            }
            for (final Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                final String field = it.next();
                if (!INPUT_FIELDS.contains(field)) {
                    throw new UsageException(where + "unexpected field '" + field
                        + "' (expected topic, key, value, ts)");
                }
            }
            final JsonNode topic = node.get("topic");
            if (topic == null || !topic.isTextual()) {
                throw new UsageException(where + "'topic' must be a string");
            }
            if (!spec.inputTopics().contains(topic.asText())) {
                throw new UsageException(where + "topic '" + topic.asText()
                    + "' is not an input of this topology (inputs: " + String.join(", ", spec.inputTopics()) + ")");
            }
            final JsonNode ts = node.get("ts");
            if (ts == null || !ts.isIntegralNumber() || !ts.canConvertToLong()) {
                throw new UsageException(where + "'ts' must be an integer (epoch millis)");
            }
            if (ts.asLong() < 0) {
                throw new UsageException(where + "'ts' must not be negative");
            }
            inputs.add(new Input(i + 1, topic.asText(),
                nullableString(node, "key", where), nullableString(node, "value", where), ts.asLong()));
        }
        return inputs;
    }

    static String nullableString(final JsonNode node, final String field, final String where) {
        final JsonNode v = node.get(field);
        if (v == null) {
            throw new UsageException(where + "missing '" + field + "' (use null for a null " + field + ")");
        }
        if (v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new UsageException(where + "'" + field + "' must be a string or null");
        }
        return v.asText();
    }

    static List<String> run(final String name, final List<Input> inputs) {
        final Spec spec = TOPOLOGIES.get(name);
        final StreamsBuilder builder = new StreamsBuilder();
        spec.build().accept(builder);

        final Path stateDir;
        try {
            stateDir = Files.createTempDirectory(STATE_ROOT, "kstreams-java-ref-");
        } catch (final IOException e) {
            throw new UncheckedIOException(e);
        }
        final Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "ref");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "dummy:1234");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.putAll(spec.config());

        final List<String> out = new ArrayList<>();
        // Fixed mocked wall-clock start, so nothing can depend on the real time (see README).
        try (TopologyTestDriver driver = new TopologyTestDriver(builder.build(), props, Instant.EPOCH)) {
            final Map<String, TestInputTopic<String, String>> topics = new LinkedHashMap<>();
            for (final String topic : spec.inputTopics()) {
                topics.put(topic, driver.createInputTopic(topic, STRING.serializer(), STRING.serializer()));
            }
            for (final Input in : inputs) {
                topics.get(in.topic()).pipeInput(new TestRecord<>(in.key(), in.value(), Instant.ofEpochMilli(in.ts())));
            }
            @SuppressWarnings("unchecked")
            final TestOutputTopic<Object, Object> output = driver.createOutputTopic(OUTPUT_TOPIC,
                (Deserializer<Object>) spec.outKey(), (Deserializer<Object>) spec.outValue());
            for (final TestRecord<Object, Object> record : output.readRecordsToList()) {
                out.add(formatRecord(record));
            }
        } finally {
            deleteRecursively(stateDir);
        }
        return out;
    }

    static String formatRecord(final TestRecord<Object, Object> record) {
        final ObjectNode node = JSON.createObjectNode();
        node.put("topic", OUTPUT_TOPIC);
        final Object key = record.key();
        if (key == null) {
            node.putNull("key");
        } else if (key instanceof Windowed) {
            final Windowed<?> w = (Windowed<?>) key;
            final ObjectNode k = node.putObject("key");
            if (w.key() == null) {
                k.putNull("key");
            } else {
                k.put("key", (String) w.key());
            }
            k.put("start", w.window().start());
            k.put("end", w.window().end());
        } else {
            node.put("key", (String) key);
        }
        final Object value = record.value();
        if (value == null) {
            node.putNull("value");
        } else if (value instanceof Long) {
            node.put("value", (Long) value);
        } else {
            node.put("value", (String) value);
        }
        node.put("ts", record.timestamp());
        try {
            return JSON.writeValueAsString(node);
        } catch (final JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static void writeOutput(final Path path, final List<String> lines) {
        try (BufferedWriter w = Files.newBufferedWriter(path, StandardCharsets.UTF_8)) {
            for (final String line : lines) {
                w.write(line);
                w.write('\n');
            }
        } catch (final IOException e) {
            throw new UsageException("cannot write output " + path + ": " + e);
        }
    }

    static void deleteRecursively(final Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (final IOException ignored) {
                    // best effort: a temp dir left behind is harmless
                }
            });
        } catch (final IOException ignored) {
            // best effort
        }
    }
}
