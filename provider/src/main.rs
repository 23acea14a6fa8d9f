//! Terraform starts this binary; it serves the provider over plugin protocol 6.

fn main() -> std::process::ExitCode {
    tfplug::main(
        "provider.terraform-provider-k3strading",
        k3strading_provider::K3sTrading,
    )
}
