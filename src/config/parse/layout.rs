//! `[[datasets]]`: the ZFS layout, each dataset checked on its own and then all together (one
//! root with `blank = true`, /nix and /persist present, mount points unique).

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDataset {
    name: Spanned<String>,
    mount: Option<Spanned<String>>,
    properties: Option<Props>,
    blank: Option<Spanned<bool>>,
}

pub(super) fn datasets(src: &Source, raw: Vec<Spanned<RawDataset>>) -> Result<(Vec<Dataset>, Vec<Range<usize>>)> {
    let mut out: Vec<Dataset> = Vec::new();
    let mut names: Vec<Range<usize>> = Vec::new();
    let mut mounts: Vec<Range<usize>> = Vec::new();
    for (i, d) in raw.into_iter().enumerate() {
        let d = d.into_inner();
        let name = d.name.get_ref();
        rules::dataset_name(name).map_err(|p| src.at(&d.name, p))?;
        if let Some(i) = out.iter().position(|o| o.name == *name) {
            return Err(src.at(
                &d.name,
                problem(
                    format!("dataset {name:?} is listed twice (first on line {})", src.line(names[i].start)),
                    "merge the two [[datasets]] entries",
                ),
            ));
        }
        let mountpoint_span = d
            .properties
            .as_ref()
            .and_then(|p| p.iter().find(|(k, _)| k.get_ref() == "mountpoint"))
            .map(|(_, v)| v.span());
        let mut properties = props(src, "dataset", &[], d.properties)?;
        if let Some(m) = &d.mount {
            let mount = m.get_ref();
            rules::dataset_mount(mount).map_err(|p| src.at(m, p))?;
            rules::unit_path(&format!("datasets[{i}].mount"), mount, false).map_err(|p| src.at(m, p))?;
            if let Some(i) = out.iter().position(|o| o.mount.as_deref() == Some(mount)) {
                return Err(src.at(
                    m,
                    problem(
                        format!(
                            "datasets {:?} and {name:?} both mount at {mount:?} (the first on line {})",
                            out[i].name,
                            src.line(mounts[i].start)
                        ),
                        "give each dataset its own mount point, or leave `mount` out of one",
                    ),
                ));
            }
            match properties.iter().find(|(k, _)| k == "mountpoint") {
                Some((_, v)) if v != "legacy" => {
                    return Err(src.err(
                        mountpoint_span.unwrap_or_else(|| m.span()),
                        problem(
                            format!("dataset {name:?} has mount = {mount:?} and also the property mountpoint = {v:?}"),
                            "blankroot mounts datasets itself (mountpoint=legacy); remove the mountpoint property",
                        ),
                    ));
                }
                Some(_) => {}
                None => properties.push(("mountpoint".into(), "legacy".into())),
            }
        }
        let blank = d.blank.as_ref().is_some_and(|b| *b.get_ref());
        if let Some(b) = d.blank.as_ref().filter(|b| *b.get_ref())
            && d.mount.as_ref().map(|m| m.get_ref().as_str()) != Some("/")
        {
            return Err(src.at(
                b,
                problem(
                    format!("dataset {name:?} has blank = true but is not mounted at /"),
                    "only the root dataset (mount = \"/\") is rolled back to @blank; remove blank = true here",
                ),
            ));
        }
        names.push(d.name.span());
        mounts.push(d.mount.as_ref().map_or(0..0, Spanned::span));
        out.push(Dataset { name: d.name.into_inner(), mount: d.mount.map(Spanned::into_inner), properties, blank });
    }
    Ok((out, names))
}

pub(super) fn check_dataset_roles(
    src: &Source,
    ds: &[Dataset],
    names: &[Range<usize>],
    list: Range<usize>,
) -> Result<()> {
    let at = |m: &str| ds.iter().position(|d| d.mount.as_deref() == Some(m));
    match at("/") {
        None => {
            return Err(src.err(
                list,
                problem(
                    "no [[datasets]] entry mounts at /",
                    "add [[datasets]] name = \"local/root\", mount = \"/\", blank = true, properties = { canmount = \"noauto\" }",
                ),
            ));
        }
        Some(i) if !ds[i].blank => {
            return Err(src.err(
                names[i].clone(),
                problem(
                    format!("the root dataset {:?} has no blank = true, so nothing would be rolled back", ds[i].name),
                    "set blank = true on the dataset mounted at /",
                ),
            ));
        }
        _ => {}
    }
    for (m, name) in [("/nix", "local/nix"), ("/persist", "safe/persist")] {
        if at(m).is_none() {
            return Err(src.err(
                list.clone(),
                problem(
                    format!("no [[datasets]] entry mounts at {m}; the erased root cannot hold it"),
                    format!("add [[datasets]] name = \"{name}\", mount = \"{m}\""),
                ),
            ));
        }
    }
    for (d, span) in ds.iter().zip(names) {
        if let Some(parent) = ds.iter().find(|p| p.blank && d.name.starts_with(&format!("{}/", p.name))) {
            return Err(src.err(
                span.clone(),
                problem(
                    format!("dataset {:?} is inside the rolled-back root dataset {:?}", d.name, parent.name),
                    "`zfs rollback -r` would destroy its snapshots; put it beside the root dataset, e.g. under `local/` or `safe/`",
                ),
            ));
        }
    }
    Ok(())
}
