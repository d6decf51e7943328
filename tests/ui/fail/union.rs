use streams::StreamsSerde;

#[derive(StreamsSerde)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
