//! The documentation's examples are the tests they claim to be.

use lbsim_tests::root;

/// The README's property-test example is `tests/tests/readme_property.rs`, verbatim.
#[test]
fn readme_property_example_is_the_test_file() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme.split("## Property tests with lbsim").nth(1).expect("README has the section");
    let block = section.split("```rust\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a rust block");
    let file = std::fs::read_to_string(root().join("tests/tests/readme_property.rs")).unwrap();
    let file_body: String = file.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(block.trim_end(), file_body.trim_end(), "README example and tests/tests/readme_property.rs differ");
}
