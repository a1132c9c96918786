//! Keyward's demo (placeholder until the demo site lands): signs the protected-resource
//! request of RFC 5849 §1.2 with HMAC-SHA1 and prints it with its signature base string.

use keyward::oauth1::rfc5849::{ClientCredentials, SignedRequest, Signer, SigningParams, TokenCredentials};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The client and token credentials of RFC 5849 §1.2.
    let signer = Signer::new(ClientCredentials::new("dpf43f3p2l4k3l03", "kd94hf93k423kf44"))
        .realm("Photos")
        .include_version(false);
    let token = TokenCredentials::new("nnch734d00sl2jdk", "pfkkdhi9sl3r4s00");
    let request = match http::Request::get("http://photos.example.net/photos?file=vacation.jpg&size=original")
        .header(http::header::HOST, "photos.example.net")
        .body(Vec::new())
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot build the request: {e}");
            return ExitCode::FAILURE;
        }
    };
    let params = SigningParams { token: Some(&token), ..SigningParams::default() };
    let signed = match signer.sign_at(request, &params, "137131202", "chapoH") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot sign: {e}");
            return ExitCode::FAILURE;
        }
    };
    let base = SignedRequest::from_http(&signed).map(|r| r.base_string());

    println!("RFC 5849 §1.2 protected-resource request, signed by Keyward:\n");
    println!("{} {} HTTP/1.1", signed.method(), signed.uri().path_and_query().map_or("/", |p| p.as_str()));
    for (name, value) in signed.headers() {
        println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    match base {
        Ok(base) => println!("\nsignature base string (§3.4.1):\n{base}"),
        Err(e) => eprintln!("cannot re-read the signed request: {e}"),
    }
    ExitCode::SUCCESS
}
