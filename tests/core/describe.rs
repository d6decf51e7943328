//! `describe()` against the text Java Kafka Streams 4.3.1 prints for the
//! same DSL calls (captured from Kafka's own `Topology.describe()`).

use streams::dsl::{
    Branched, Consumed, Grouped, Materialized, Named, Produced, Repartitioned, StreamsBuilder,
};
use streams::serde::Serdes;

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

#[test]
fn generated_store_names_keep_generated_repartition_names() {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .flat_map_values(|v| {
            v.map(|v| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .group_by(
            |_k, w| w.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::none())
        .to_stream()
        .to("out", Produced::none());
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-FILTER-0000000006
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FILTER-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: KSTREAM-SINK-0000000005 (topic: KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition)
      <-- KSTREAM-FILTER-0000000006

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000007 (topics: [KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition])
      --> KSTREAM-AGGREGATE-0000000004
    Processor: KSTREAM-AGGREGATE-0000000004 (stores: [KSTREAM-AGGREGATE-STATE-STORE-0000000003])
      --> KTABLE-TOSTREAM-0000000008
      <-- KSTREAM-SOURCE-0000000007
    Processor: KTABLE-TOSTREAM-0000000008 (stores: [])
      --> KSTREAM-SINK-0000000009
      <-- KSTREAM-AGGREGATE-0000000004
    Sink: KSTREAM-SINK-0000000009 (topic: out)
      <-- KTABLE-TOSTREAM-0000000008

";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);
}

#[test]
fn table_group_by_materializes_the_source_table() {
    let b = StreamsBuilder::new();
    b.table("input", strings(), Materialized::none())
        .group_by(
            |k, v| (v.clone(), k.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::none())
        .to_stream()
        .to("output", Produced::none());
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000001 (topics: [input])
      --> KTABLE-SOURCE-0000000002
    Processor: KTABLE-SOURCE-0000000002 (stores: [input-STATE-STORE-0000000000])
      --> KTABLE-SELECT-0000000003
      <-- KSTREAM-SOURCE-0000000001
    Processor: KTABLE-SELECT-0000000003 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KTABLE-SOURCE-0000000002
    Sink: KSTREAM-SINK-0000000005 (topic: KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition)
      <-- KTABLE-SELECT-0000000003

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000006 (topics: [KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition])
      --> KTABLE-AGGREGATE-0000000007
    Processor: KTABLE-AGGREGATE-0000000007 (stores: [KTABLE-AGGREGATE-STATE-STORE-0000000004])
      --> KTABLE-TOSTREAM-0000000008
      <-- KSTREAM-SOURCE-0000000006
    Processor: KTABLE-TOSTREAM-0000000008 (stores: [])
      --> KSTREAM-SINK-0000000009
      <-- KTABLE-AGGREGATE-0000000007
    Sink: KSTREAM-SINK-0000000009 (topic: output)
      <-- KTABLE-TOSTREAM-0000000008

";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);
}

#[test]
fn split_merge_and_global_store() {
    let b = StreamsBuilder::new();
    let m = b
        .stream("in", strings())
        .split(Named::as_("sp-"))
        .branch(
            |_k, v| v.is_some_and(|v| v.len() > 3),
            Branched::as_("long"),
        )
        .default_branch(Branched::as_("short"));
    m["sp-long"]
        .map_values(|v| v.map(|v| format!("{v}!")))
        .merge(&m["sp-short"].filter(|_k, _v| true))
        .peek(|_k, _v| {})
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    b.global_table("glob", strings(), Materialized::none());
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> sp-
    Processor: sp- (stores: [])
      --> sp-long, sp-short
      <-- KSTREAM-SOURCE-0000000000
    Processor: sp-long (stores: [])
      --> KSTREAM-MAPVALUES-0000000004
      <-- sp-
    Processor: sp-short (stores: [])
      --> KSTREAM-FILTER-0000000005
      <-- sp-
    Processor: KSTREAM-FILTER-0000000005 (stores: [])
      --> KSTREAM-MERGE-0000000006
      <-- sp-short
    Processor: KSTREAM-MAPVALUES-0000000004 (stores: [])
      --> KSTREAM-MERGE-0000000006
      <-- sp-long
    Processor: KSTREAM-MERGE-0000000006 (stores: [])
      --> KSTREAM-PEEK-0000000007
      <-- KSTREAM-MAPVALUES-0000000004, KSTREAM-FILTER-0000000005
    Processor: KSTREAM-PEEK-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-MERGE-0000000006
    Sink: KSTREAM-SINK-0000000008 (topic: out)
      <-- KSTREAM-PEEK-0000000007

  Sub-topology: 1 for global store (will not generate tasks)
    Source: KSTREAM-SOURCE-0000000010 (topics: [glob])
      --> KTABLE-SOURCE-0000000011
    Processor: KTABLE-SOURCE-0000000011 (stores: [glob-STATE-STORE-0000000009])
      --> none
      <-- KSTREAM-SOURCE-0000000010
";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);
}

#[test]
fn named_grouping_explicit_repartition_and_to_table() {
    let b = StreamsBuilder::new();
    let s = b.stream("in", strings());
    s.select_key(|_k, v| v.cloned())
        .group_by_key(Grouped::as_("byval").with_key_serde(Serdes::string()))
        .reduce(|x, y| format!("{x}{y}"), Materialized::none())
        .to_stream()
        .to("out", Produced::none());
    s.repartition(Repartitioned::none())
        .to_table(Materialized::none())
        .to_stream()
        .to("out2", Produced::none());
    let expected = "Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-FILTER-0000000011, KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> byval-repartition-filter
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000011 (stores: [])
      --> KSTREAM-SINK-0000000010
      <-- KSTREAM-SOURCE-0000000000
    Processor: byval-repartition-filter (stores: [])
      --> byval-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000010 (topic: KSTREAM-REPARTITION-0000000009-repartition)
      <-- KSTREAM-FILTER-0000000011
    Sink: byval-repartition-sink (topic: byval-repartition)
      <-- byval-repartition-filter

  Sub-topology: 1
    Source: byval-repartition-source (topics: [byval-repartition])
      --> KSTREAM-REDUCE-0000000003
    Processor: KSTREAM-REDUCE-0000000003 (stores: [KSTREAM-REDUCE-STATE-STORE-0000000002])
      --> KTABLE-TOSTREAM-0000000007
      <-- byval-repartition-source
    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])
      --> KSTREAM-SINK-0000000008
      <-- KSTREAM-REDUCE-0000000003
    Sink: KSTREAM-SINK-0000000008 (topic: out)
      <-- KTABLE-TOSTREAM-0000000007

  Sub-topology: 2
    Source: KSTREAM-SOURCE-0000000012 (topics: [KSTREAM-REPARTITION-0000000009-repartition])
      --> KSTREAM-TOTABLE-0000000013
    Processor: KSTREAM-TOTABLE-0000000013 (stores: [])
      --> KTABLE-TOSTREAM-0000000015
      <-- KSTREAM-SOURCE-0000000012
    Processor: KTABLE-TOSTREAM-0000000015 (stores: [])
      --> KSTREAM-SINK-0000000016
      <-- KSTREAM-TOTABLE-0000000013
    Sink: KSTREAM-SINK-0000000016 (topic: out2)
      <-- KTABLE-TOSTREAM-0000000015

";
    assert_eq!(b.build().unwrap().describe().to_string(), expected);
}
